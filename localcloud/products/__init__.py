"""One module per emulated product: state and behaviour, registered actions."""
