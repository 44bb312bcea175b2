"""The ``remediate`` command: parsing, the confirm prompt and printing over the library."""
