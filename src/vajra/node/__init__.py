"""One Lightning node, sans-IO: state in, messages and a new state out (no channels yet)."""

from vajra.node.core import MAX_PEERS, Node, NodeState

__all__ = ["MAX_PEERS", "Node", "NodeState"]
