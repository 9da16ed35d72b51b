"""The federation protocol between nodes and the hub: keys, signing, discovery, pulls, pushes and their apply."""
