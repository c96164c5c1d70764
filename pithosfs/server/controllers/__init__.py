"""HTTP controllers, one module per level, methods named after HTTP verbs."""
