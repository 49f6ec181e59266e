"""Qt item models of the GUI: they hold ids or small immutable rows and never call the services themselves."""
