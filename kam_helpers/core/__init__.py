"""Foundations every layer stands on: errors, quarters, paths, number formatting, safe HTML and spreadsheet output, atomic files."""
