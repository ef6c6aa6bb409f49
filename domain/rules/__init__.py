"""Pure rules: facts and an explicit time in, a decision value out."""
