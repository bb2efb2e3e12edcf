"""Tests of change notifications (webhooks): subscriptions, the receiver over HTTPS, workers."""
