"""The rules of the Case aggregate, one module per part of the journey (given / when / then)."""
