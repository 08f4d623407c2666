from certcensus.cli import main

# Guarded: worker processes started with multiprocessing's "spawn" (Dask's LocalCluster)
# import the main module again, and must not run the command line a second time.
if __name__ == "__main__":
    main()
