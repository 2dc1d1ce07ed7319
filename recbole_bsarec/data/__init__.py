"""Getting datasets into RecBole's atomic-file layout."""
