CREATE TABLE `blocks` (
	`blocker` text NOT NULL,
	`blocked` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`blocker`, `blocked`)
);
--> statement-breakpoint
CREATE INDEX `blocks_blocked_idx` ON `blocks` (`blocked`);--> statement-breakpoint
CREATE TABLE `handle_reservations` (
	`handle` text PRIMARY KEY NOT NULL,
	`available_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `reports` (
	`id` text PRIMARY KEY NOT NULL,
	`reporter` text NOT NULL,
	`reported_account` text NOT NULL,
	`chat_id` text NOT NULL,
	`msg_id` text NOT NULL,
	`content` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `reports_created_idx` ON `reports` (`created_at`);--> statement-breakpoint
CREATE INDEX `reports_reported_idx` ON `reports` (`reported_account`,`created_at`);--> statement-breakpoint
CREATE INDEX `reports_reporter_idx` ON `reports` (`reporter`);--> statement-breakpoint
ALTER TABLE `accounts` ADD `suspended_at` integer;