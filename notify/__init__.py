"""Notifications: events to outbox, reminders and escalations, the rate-limited sender."""
