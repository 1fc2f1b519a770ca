"""rayfleet: production Ray clusters on your own hosts, deployed with Ansible."""
