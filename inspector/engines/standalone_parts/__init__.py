"""Parts of the weights-free engine: multi-scale features (`features`) and the patch memory (`memory`)."""
