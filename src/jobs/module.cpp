// (module jobs: sources arrive with its issue)
