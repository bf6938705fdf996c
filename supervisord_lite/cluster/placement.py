"""A placement checked against the cluster's nodes, and turned into Ray's actor options.

Pure: the node table comes in as data (ray_owner.py reads it from Ray), so the rules are tested
without a cluster. A placement is refused at `process.create` when no live node could ever take it
(an unknown node, a resource no node has, more of one than any node has in total); one that fits
a node but not its free resources now waits at `process.start`, as Ray's own scheduling does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from supervisord_lite.core.errors import BadPlacement
from supervisord_lite.core.model import Placement

# Ray's names for the resources an actor asks for by keyword; any other name is a custom resource.
_KEYWORDS = {"CPU": "num_cpus", "GPU": "num_gpus", "memory": "memory"}


@dataclass(frozen=True)
class Node:
    node_id: str
    address: str
    alive: bool
    resources: Mapping[str, float]  # totals, as Ray reports them


def nodes_from_ray(table: Iterable[Mapping[str, Any]]) -> list[Node]:
    """`ray.nodes()` rows as Nodes."""
    return [
        Node(
            node_id=str(row["NodeID"]),
            address=str(row.get("NodeManagerAddress", "")),
            alive=bool(row.get("Alive")),
            resources=dict(row.get("Resources") or {}),
        )
        for row in table
    ]


def resolve(placement: Placement, nodes: Iterable[Node]) -> str | None:
    """The node id the placement pins, or None (anywhere that fits). Raises BadPlacement."""
    alive = [n for n in nodes if n.alive]
    candidates = alive
    pinned: str | None = None
    if placement.node is not None:
        wanted = placement.node
        candidates = [n for n in alive if wanted in (n.node_id, n.address)]
        if not candidates:
            known = ", ".join(f"{n.node_id} ({n.address})" for n in alive) or "none"
            raise BadPlacement(
                f"no live node is {wanted!r}; give a node id or address from: {known}",
                node=wanted,
            )
        if len(candidates) > 1:
            ids = ", ".join(n.node_id for n in candidates)
            raise BadPlacement(
                f"several nodes have the address {wanted!r}; give one of their ids: {ids}",
                node=wanted,
            )
        pinned = candidates[0].node_id
    for name in placement.resources:
        if not any(name in n.resources for n in alive):
            have = sorted({r for n in alive for r in n.resources if not r.startswith("node:")})
            raise BadPlacement(
                f"no node of the cluster has the resource {name!r}; they have: {', '.join(have)}",
                resource=name,
            )
    if not any(_fits(placement.resources, n) for n in candidates):
        where = "that node" if pinned else "any node"
        raise BadPlacement(
            f"{where} has fewer resources in total than {dict(placement.resources)}; "
            "ask for less, or for another node",
            resources=dict(placement.resources),
        )
    return pinned


def _fits(resources: Mapping[str, float], node: Node) -> bool:
    return all(node.resources.get(name, 0.0) >= amount for name, amount in resources.items())


def actor_options(placement: Placement | None) -> dict[str, Any]:
    """Ray's resource options for the actor. A process reserves no CPU unless it asks for one
    (Ray's default for an actor is one CPU to be placed: supervised processes are not tasks)."""
    options: dict[str, Any] = {"num_cpus": 0}
    custom: dict[str, float] = {}
    for name, amount in (placement.resources if placement else {}).items():
        if name in _KEYWORDS:
            options[_KEYWORDS[name]] = amount
        else:
            custom[name] = amount
    if custom:
        options["resources"] = custom
    return options
