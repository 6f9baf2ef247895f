"""Survey cluster tables: reading, cleaning and checking them, and the DHS/LSMS recipes."""
