"""The HTML report, the GIF and the marks drawn on screenshots."""
