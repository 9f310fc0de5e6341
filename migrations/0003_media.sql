CREATE TABLE `media` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`device_id` integer NOT NULL,
	`size` integer NOT NULL,
	`content_class` text NOT NULL,
	`state` text NOT NULL,
	`mode` text NOT NULL,
	`upload_id` text,
	`part_bytes` integer NOT NULL,
	`etag` text,
	`created_at` integer NOT NULL,
	`upload_expires_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`completed_at` integer
);
--> statement-breakpoint
CREATE INDEX `media_account_created_idx` ON `media` (`account_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `media_state_expiry_idx` ON `media` (`state`,`expires_at`);--> statement-breakpoint
CREATE INDEX `media_upload_expiry_idx` ON `media` (`state`,`upload_expires_at`);--> statement-breakpoint
CREATE TABLE `media_parts` (
	`media_id` text NOT NULL,
	`part_number` integer NOT NULL,
	`etag` text NOT NULL,
	`size` integer NOT NULL,
	PRIMARY KEY(`media_id`, `part_number`),
	FOREIGN KEY (`media_id`) REFERENCES `media`(`id`) ON UPDATE no action ON DELETE cascade
);
