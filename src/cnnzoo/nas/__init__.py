"""Architecture search in the NASNet cell space (``cnnzoo.models.genotype``)."""
