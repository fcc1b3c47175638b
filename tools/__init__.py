"""Scripts that keep the repository honest about itself (tools.archgraph: the import graph
and the diagram in docs/architecture.md)."""
