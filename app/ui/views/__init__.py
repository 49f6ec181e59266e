"""Widgets that show models and turn user gestures into service calls on the task runner's lanes."""
