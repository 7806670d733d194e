"""The three HTTP views of the one fleet: each parses its vendor's wire shapes, calls the domain,
and renders the answer in that vendor's style."""
