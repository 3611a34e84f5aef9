"""Facts the planner builds on, as data tables with their sources."""
