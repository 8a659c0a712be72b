"""medinterp."""
