"""JPEG stream parsing, coefficient-domain editing and the compiled entropy codec."""
