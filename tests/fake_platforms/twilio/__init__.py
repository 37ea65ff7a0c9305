"""A loopback fake of Twilio's Messages and Calls APIs, and a carrier simulator."""
