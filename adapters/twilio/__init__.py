"""Twilio SMS and voice channels, their signed callbacks, and phone-number encryption."""
