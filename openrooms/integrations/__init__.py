"""Integrations with other systems: for now Microsoft 365 (microsoft365/)."""
