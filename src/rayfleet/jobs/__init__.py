"""Sample Ray jobs that rayfleet submits to show a cluster at work."""
