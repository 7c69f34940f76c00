"""`python -m creditline.cli`; also the file `spark-submit` runs for `creditline review --engine
spark` on a cluster (spark-submit starts a Python driver only from a `.py` file)."""

from creditline.cli.main import main

if __name__ == "__main__":
    main()
