"""One module per architecture family; each turns a text config dict into ModelSpec fields."""
