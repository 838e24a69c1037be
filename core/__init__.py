"""certops core: the domain model, its rules and the services every entry point calls."""
