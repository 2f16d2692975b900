"""The files of a QBR pack: HTML page, PowerPoint deck, PDF, Excel workbook (none imports another; pack writes them)."""
