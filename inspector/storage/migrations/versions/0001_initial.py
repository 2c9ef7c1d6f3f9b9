"""Initial schema: products, references, inspections, regions, synthetic samples, detectors.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("defect_words", sa.JSON(), nullable=False),
        sa.Column("engine", sa.String(40), nullable=False),
        sa.Column("engine_settings", sa.JSON(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("target_frr", sa.Float(), nullable=False),
        sa.Column("state_path", sa.String(400), nullable=True),
        sa.Column("state_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "reference_images",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
        sa.Column("path", sa.String(400), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("original_name", sa.String(400), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("product_id", "sha256"),
    )
    op.create_index("ix_reference_images_product_id", "reference_images", ["product_id"])
    op.create_table(
        "inspections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
        sa.Column("image_path", sa.String(400), nullable=True),
        sa.Column("original_name", sa.String(400), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("engine_id", sa.String(40), nullable=False),
        sa.Column("engine_version", sa.String(40), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("verdict", sa.String(4), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("station", sa.String(120), nullable=False),
        sa.Column("operator", sa.String(120), nullable=False),
        sa.Column("flag", sa.String(20), nullable=False),
    )
    op.create_index("ix_inspections_product_id", "inspections", ["product_id"])
    op.create_index("ix_inspections_verdict", "inspections", ["verdict"])
    op.create_index("ix_inspections_created_at", "inspections", ["created_at"])
    op.create_table(
        "regions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("inspection_id", sa.Integer(), sa.ForeignKey("inspections.id", ondelete="CASCADE"), nullable=False),
        sa.Column("x0", sa.Integer(), nullable=False),
        sa.Column("y0", sa.Integer(), nullable=False),
        sa.Column("x1", sa.Integer(), nullable=False),
        sa.Column("y1", sa.Integer(), nullable=False),
        sa.Column("mask_path", sa.String(400), nullable=True),
        sa.Column("label", sa.String(120), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("area_px", sa.Integer(), nullable=False),
    )
    op.create_index("ix_regions_inspection_id", "regions", ["inspection_id"])
    op.create_table(
        "synthetic_samples",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
        sa.Column("image_path", sa.String(400), nullable=False),
        sa.Column("mask_path", sa.String(400), nullable=True),
        sa.Column("method", sa.String(40), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("filter_score", sa.Float(), nullable=True),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_synthetic_samples_product_id", "synthetic_samples", ["product_id"])
    op.create_table(
        "detectors",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
        sa.Column("weights_path", sa.String(400), nullable=False),
        sa.Column("base_engine", sa.String(40), nullable=False),
        sa.Column("training_set", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_detectors_product_id", "detectors", ["product_id"])


def downgrade() -> None:
    for table in ("detectors", "synthetic_samples", "regions", "inspections", "reference_images", "products"):
        op.drop_table(table)
