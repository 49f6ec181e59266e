"""Dialogs of the GUI: connections, the note asked for when an item is ignored."""
