"""Ray autoscaler support: a node provider that grows and shrinks a cluster from a pool of hosts."""
