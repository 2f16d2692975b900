"""Tools for developers, not used by the product: the sample book generator and the generated documents."""
