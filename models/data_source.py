"""Where a training or evaluation run takes its images: an existing YOLO dataset, or generated ones."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DataSource(BaseModel):
    """Exactly one of `data` (a folder with data.yaml) or `synth_count` (images to generate)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: Path | None = Field(
        default=None, title="Dataset", description="An existing YOLO dataset folder (with data.yaml)"
    )
    synth_count: int | None = Field(
        default=None, ge=1, title="Synthetic images", description="Generate this many when no --data"
    )

    @model_validator(mode="after")
    def _one_data_source(self) -> Self:
        if (self.data is None) == (self.synth_count is None):
            raise ValueError("give exactly one of --data DIR or --synth-count N")
        if self.data is not None and not (self.data / "data.yaml").is_file():
            raise ValueError(f"{self.data / 'data.yaml'} does not exist")
        return self
