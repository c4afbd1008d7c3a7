"""Real SUTs for tests and demos (loopback sshd + dockerd); never imported by the product."""
