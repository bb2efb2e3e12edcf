"""openrooms: desk and meeting-room booking, its REST API and its Microsoft 365 integration."""
