"""Writes. One service per action, used by views, the API, commands and tests alike."""
