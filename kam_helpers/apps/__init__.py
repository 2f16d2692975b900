"""The Voilà apps and their server: account explorer, book of business, QBR page, downloads."""
