"""The daemon: a scheduler that syncs on a timetable, a web endpoint for callbacks, its logs,
metrics and state."""
