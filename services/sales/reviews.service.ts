/**
 * sales.reviews: patron feedback on shops (docs/spec.md section 2, "Customer Feedback").
 * One review per patron per shop per UTC day; comments are plain text, returned
 * JSON-encoded, never rendered.
 */
import type { Service, ServiceSettingSchema } from "moleculer";
import { UniqueConstraintError } from "sequelize";
import { DbMixin, type DbThis } from "../../mixins/db.mixin";
import { OutboxMixin, type OutboxThis } from "../../mixins/outbox.mixin";
import { AuditMixin } from "../../mixins/audit.mixin";
import { CacheCleaner, type CacheCleanerThis } from "../../mixins/cache-cleaner.mixin";
import { conflict, forbidden, notFound, referenced } from "../../lib/errors";
import { findOptions, toPage } from "../../lib/pagination";
import { RETRY_READS, respondCreated } from "../../lib/actions";
import type { Ctx } from "../../lib/types";
import { defineSalesModels, toReviewJson, type SalesModels } from "./sales.model";
import { findShop } from "./access";
import * as P from "./sales.params";
import { defineService, type ServiceDefinition } from "../../lib/service";

type This = Service & DbThis<SalesModels> & OutboxThis & CacheCleanerThis;

/** Control characters (other than newline and tab) are dropped from comments. */
function cleanComment(comment: string | null | undefined): string | null {
	if (comment === undefined || comment === null) return null;
	// eslint-disable-next-line no-control-regex
	const cleaned = comment.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g, "");
	return cleaned.length ? cleaned : null;
}

const schema: ServiceDefinition<ServiceSettingSchema, This> = {
	name: "sales.reviews",
	mixins: [DbMixin({ schema: "sales", models: defineSalesModels }), OutboxMixin, AuditMixin, CacheCleaner([])],
	settings: { rest: "/sales" },

	actions: {
		create: {
			rest: "POST /feedback",
			roles: ["PATRON"],
			audit: true,
			summary: "Review a shop (Patron): rating 1–5 and an optional comment; one per shop per day",
			params: P.createReviewParams,
			async handler(ctx: Ctx<P.CreateReviewParams>) {
				const { shopId, rating } = ctx.params;
				await referenced("shopId", findShop(this.db, shopId, null));
				const patronId = ctx.meta.user!.id;
				try {
					const review = await this.transaction(async (t) => {
						const created = await this.models.Review.create(
							{ shopId, patronId, rating, comment: cleanComment(ctx.params.comment) },
							{ transaction: t },
						);
						await this.publish(
							t,
							ctx,
							"REVIEW_SUBMITTED",
							{ reviewId: created.id, shopId, patronId, rating, comment: created.comment },
							shopId,
						);
						return created;
					});
					await this.cleanCache("sales");
					respondCreated(ctx, `/api/v1/sales/shops/${shopId}/reviews`);
					return toReviewJson(review);
				} catch (err) {
					if (err instanceof UniqueConstraintError)
						throw conflict("You already reviewed this shop today", "REVIEW_EXISTS", { field: "shopId" });
					throw err;
				}
			},
		},

		list: {
			rest: "GET /shops/:shopId/reviews",
			auth: "public",
			retryPolicy: RETRY_READS,
			summary: "The shop's reviews, paginated (sort by createdAt or rating)",
			params: P.listReviewsParams,
			async handler(ctx: Ctx<P.ListReviewsParams>) {
				await findShop(this.db, ctx.params.shopId, null);
				const { rows, count } = await this.models.Review.findAndCountAll({
					where: { shopId: ctx.params.shopId },
					...findOptions(ctx.params, "-createdAt"),
				});
				return toPage(rows.map(toReviewJson), count, ctx.params);
			},
		},

		update: {
			rest: "PUT /reviews/:reviewId",
			auth: "required",
			audit: true,
			summary: 'Edit your review ({ rating?, comment? }), or delete it with { "deleted": true } (author, Executive or Admin)',
			params: P.updateReviewParams,
			async handler(ctx: Ctx<P.UpdateReviewParams>) {
				const { reviewId, rating, comment, deleted } = ctx.params;
				const user = ctx.meta.user!;
				const review = await this.models.Review.findByPk(reviewId);
				if (!review) throw notFound("Review", reviewId);
				const isAuthor = review.patronId === user.id;
				if (deleted) {
					if (!isAuthor && user.role !== "EXECUTIVE" && user.role !== "ADMIN")
						throw forbidden("Only the author, an executive or an admin may delete this review");
					await review.destroy();
					await this.cleanCache("sales");
					return { id: review.id, deleted: true };
				}
				if (!isAuthor) throw forbidden("Only the author may edit this review");
				await review.update({
					...(rating !== undefined && { rating }),
					...(comment !== undefined && { comment: cleanComment(comment) }),
				});
				await this.cleanCache("sales");
				return toReviewJson(review);
			},
		},
	},
};

export default defineService(schema);
