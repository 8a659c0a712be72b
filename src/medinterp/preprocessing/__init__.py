"""Decode each image once: resized uint8 arrays per split table and size, shared by every later stage."""
