import { sql } from "../types";

/** Shops may carry a position (WGS 84 degrees) for the analytics map and heatmap; both or neither. */
export const shopCoordinates = sql(
	"160-shop-coordinates",
	`
ALTER TABLE :schema.shops
	ADD COLUMN latitude  DOUBLE PRECISION CHECK (latitude BETWEEN -90 AND 90),
	ADD COLUMN longitude DOUBLE PRECISION CHECK (longitude BETWEEN -180 AND 180),
	ADD CONSTRAINT shops_coordinates_pair CHECK ((latitude IS NULL) = (longitude IS NULL));
`,
);
