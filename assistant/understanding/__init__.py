"""Question understanding: normalisation, the budget lexicon, intent parsing."""
