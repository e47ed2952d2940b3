"""The card's file tree (MF, DFs, EFs) built from the profile, and how references resolve in it.

Only structure lives here: which file a FID, path, AID or SFI names. Contents live in the card image
(simulators/image.py); access rules are read from each node's FileSpec by the application that polices them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from apdu_specs import FileSpec, Profile


@dataclass(eq=False)
class Node:
    spec: FileSpec
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_df(self) -> bool:
        return self.spec.is_df

    @property
    def df(self) -> Node:
        """The DF this node is or lives in."""
        return self if self.is_df else self.parent  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"Node({self.name})"


class FileTree:
    """Every file of a profile, linked to its parent; the MF is the root."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.nodes: dict[str, Node] = {f.name: Node(f) for f in profile.files}
        roots = [n for n in self.nodes.values() if n.spec.type == "MF"]
        if len(roots) != 1:
            raise ValueError(f"profile {profile.name} must have exactly one MF, has {len(roots)}")
        self.mf = roots[0]
        for node in self.nodes.values():
            if node.spec.parent is not None:
                try:
                    node.parent = self.nodes[node.spec.parent]
                except KeyError:
                    raise ValueError(f"profile {profile.name}: {node.name} has unknown parent "
                                     f"{node.spec.parent!r}") from None
                node.parent.children.append(node)
        self._by_sfi = {(id(n.parent), n.spec.sfi): n for n in self.nodes.values()
                        if not n.is_df and n.spec.sfi is not None}

    def by_aid(self, aid: bytes) -> Node | None:
        for node in self.nodes.values():
            if node.spec.aid == aid:
                return node
        return None

    def by_fid(self, current_df: Node, fid: bytes) -> Node | None:
        """ISO 7816-4 8.4.1 search order: the MF, the current DF, its children, its parent, the parent's children."""
        if fid == self.mf.spec.fid:
            return self.mf
        if current_df.spec.fid == fid:
            return current_df
        for child in current_df.children:
            if child.spec.fid == fid:
                return child
        parent = current_df.parent
        if parent is not None:
            if parent.spec.fid == fid:
                return parent
            for child in parent.children:
                if child.spec.fid == fid and child.is_df:
                    return child
        return None

    def by_path(self, path: bytes) -> Node | None:
        """A path of FIDs from the MF (the leading 3F00 may be given or left out)."""
        if len(path) % 2:
            return None
        fids = [path[i:i + 2] for i in range(0, len(path), 2)]
        if fids and fids[0] == self.mf.spec.fid:
            fids = fids[1:]
        node = self.mf
        for fid in fids:
            nxt = next((c for c in node.children if c.spec.fid == fid), None)
            if nxt is None:
                return None
            node = nxt
        return node

    def by_sfi(self, df: Node, sfi: int) -> Node | None:
        return self._by_sfi.get((id(df), sfi))

    def efs(self) -> list[Node]:
        return [n for n in self.nodes.values() if not n.is_df]

    def dfs_with_aid(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.is_df and n.spec.aid]
