"""``cnnzoo draw``: a network's traced module graph drawn at the level its paper draws it."""
