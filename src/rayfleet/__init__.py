"""rayfleet: production Ray clusters on your own hosts, deployed with Ansible."""

__version__ = "0.5.0"
