"""Analysis of results: sensitivity indices, figures, takeaways and HTML reports. Reads tidy tables from
the experiments; imported by the command line and the app, never by the model or the experiments."""

from .sensitivity import (  # noqa: F401  (the first edition's ``sim.analysis`` functions)
    correlations,
    heatmap,
    index_bars,
    indices_wide,
    parallel_coordinates,
    run_means,
    scatter_matrix,
    sensitivity,
    summary,
    write_report,
)
